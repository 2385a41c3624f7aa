"""Write the malformed files of this folder (run it after changing a case): boards, recipes, test
plans, benchmark suites, lab files and campaign folders.

Each file's first line says what its one error line must contain: '# expect: TEXT'."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
REAL = ("console: {url: /dev/ttyUSB9}\npower: {model: http, on_url: 'http://127.0.0.1:9/on', "
        "off_url: 'http://127.0.0.1:9/off'}\n")
PI = "boot:\n  method: pi-tryboot\n  pi:\n    ssh: {host: 127.0.0.1%s}\n%s"
UBOOT = "boot:\n  method: uboot\n  uboot: {%s}\nqemu: {firmware: u-boot.bin}\n"

BOARDS: dict[str, tuple[str | bytes, str]] = {
    # the file itself
    "invalid-utf8": (b"name: invalid-utf8\ndescription: caf\xe9\n", "not valid UTF-8"),
    "nul-byte": (b"name: nul-byte\ndescription: a\x00b\n", "not valid YAML"),
    "not-yaml": ("name: not-yaml\nboot: [unclosed\n", "not valid YAML at line"),
    "tab-indent": ("name: tab-indent\nqemu:\n\tsmp: 1\n", "not valid YAML at line"),
    "top-level-list": ("- name: top-level-list\n", "expected a mapping of keys at the top level"),
    "empty": ("", "expected a mapping of keys at the top level"),
    "python-tag": ("name: python-tag\ndescription: !!python/object/apply:os.system ['true']\n",
                   "not valid YAML"),
    "duplicate-key": ("name: duplicate-key\nqemu: {smp: 1}\nqemu: {smp: 2}\n", "duplicate key 'qemu'"),
    "duplicate-nested-key": ("name: duplicate-nested-key\nqemu: {smp: 1, smp: 2}\n", "duplicate key 'smp'"),
    "duplicate-name": ("name: duplicate-name\nname: other\n", "duplicate key 'name'"),
    "non-string-key": ("name: non-string-key\n1: one\n", "a key must be a string"),
    "bool-key": ("name: bool-key\nyes: 1\n", "a key must be a string"),
    "nested-non-string-key": ("name: nested-non-string-key\nqemu: {2: x}\n", "key 'qemu.2'"),
    "list-key": ("name: list-key\n? [a, b]\n: x\n", "a key must be a string"),
    # keys and types
    "unknown-key": ("name: unknown-key\ncolour: red\n", "key 'colour': unknown key"),
    "unknown-nested-key": ("name: unknown-nested-key\nqemu: {cpus: 2}\n", "key 'qemu.cpus': unknown key"),
    "missing-name": ("description: no name\n", "key 'name': required key is missing"),
    "name-mismatch": ("name: something-else\n", "key 'name': must match the file name"),
    "name-path": ("name: ../../x\n", "key 'name'"),
    "name-number": ("name: 5\n", "key 'name': expected a string"),
    "description-number": ("name: description-number\ndescription: 5\n", "key 'description'"),
    "recipe-path": ("name: recipe-path\nrecipe: ../../etc/x\n", "key 'recipe'"),
    "qemu-not-mapping": ("name: qemu-not-mapping\nqemu: 5\n", "key 'qemu': expected a mapping"),
    "smp-string": ("name: smp-string\nqemu: {smp: two}\n", "key 'qemu.smp': expected an integer"),
    "smp-zero": ("name: smp-zero\nqemu: {smp: 0}\n", "key 'qemu.smp'"),
    "smp-negative": ("name: smp-negative\nqemu: {smp: -1}\n", "key 'qemu.smp'"),
    "smp-bool": ("name: smp-bool\nqemu: {smp: true}\n", "key 'qemu.smp': expected an integer"),
    "smp-float": ("name: smp-float\nqemu: {smp: 1.5}\n", "key 'qemu.smp': expected an integer"),
    "smp-huge": ("name: smp-huge\nqemu: {smp: 100000}\n", "key 'qemu.smp'"),
    "smp-past-the-machine": ("name: smp-past-the-machine\nqemu: {smp: 64}\n",
                             "key 'qemu.smp': QEMU will not start with it: qemu-system-aarch64: Number of SMP CPUs "
                             "requested (64) exceeds max CPUs supported by machine 'mach-virt' (8)"),
    "extra-arg-unknown-option": ("name: extra-arg-unknown-option\nqemu: {extra_args: [--no-such-option]}\n",
                                 "key 'qemu.extra_args': QEMU will not start with it: qemu-system-aarch64: "
                                 "--no-such-option: invalid option"),
    "memory-zero": ("name: memory-zero\nqemu: {memory_mb: 0}\n", "key 'qemu.memory_mb'"),
    "memory-absurd": ("name: memory-absurd\nqemu: {memory_mb: 99999999999}\n", "key 'qemu.memory_mb'"),
    "memory-over-host": ("name: memory-over-host\nqemu: {memory_mb: 1048576}\n",
                         "key 'qemu.memory_mb': 1048576 MiB is more than this machine's"),
    "machine-unknown": ("name: machine-unknown\nqemu: {machine: virtx}\n", "key 'qemu.machine'"),
    "cpu-unknown": ("name: cpu-unknown\nqemu: {cpu: cortex-a999}\n", "key 'qemu.cpu'"),
    "cpu-unknown-with-options": ("name: cpu-unknown-with-options\nqemu: {cpu: 'cortex-a999,pauth=off'}\n",
                                 "key 'qemu.cpu': qemu-system-aarch64 has no CPU model 'cortex-a999'"),
    "binary-not-qemu": ("name: binary-not-qemu\nqemu: {binary: /bin/true}\n",
                        "key 'qemu.binary': /bin/true lists no machines for '-machine help': not a QEMU"),
    "binary-missing": ("name: binary-missing\nqemu: {binary: qemu-system-nonexistent}\n", "key 'qemu.binary'"),
    "binary-bad-path": ("name: binary-bad-path\nqemu: {binary: /nonexistent/qemu}\n", "key 'qemu.binary'"),
    "extra-args-string": ("name: extra-args-string\nqemu: {extra_args: -s}\n",
                          "key 'qemu.extra_args': expected a list"),
    "extra-arg-too-long": (f"name: extra-arg-too-long\nqemu: {{extra_args: [{'x' * 140000}]}}\n",
                           "key 'qemu.extra_args[0]'"),
    "no-reboot-string": ("name: no-reboot-string\nqemu: {no_reboot: 'yes'}\n", "key 'qemu.no_reboot'"),
    "dtb-remove-string": ("name: dtb-remove-string\nqemu: {dtb_remove: /soc}\n", "key 'qemu.dtb_remove'"),
    # timeouts and numbers
    "ready-timeout-zero": ("name: ready-timeout-zero\nboot: {ready_timeout_s: 0}\n", "key 'boot.ready_timeout_s'"),
    "ready-timeout-negative": ("name: ready-timeout-negative\nboot: {ready_timeout_s: -5}\n",
                               "key 'boot.ready_timeout_s'"),
    "ready-timeout-nan": ("name: ready-timeout-nan\nboot: {ready_timeout_s: .nan}\n", "key 'boot.ready_timeout_s'"),
    "ready-timeout-inf": ("name: ready-timeout-inf\nboot: {ready_timeout_s: .inf}\n", "key 'boot.ready_timeout_s'"),
    "ready-timeout-text": ("name: ready-timeout-text\nboot: {ready_timeout_s: 2min}\n",
                           "key 'boot.ready_timeout_s': expected a number"),
    "open-timeout-negative": ("name: open-timeout-negative\nconsole: {open_timeout_s: -1}\n",
                              "key 'console.open_timeout_s'"),
    "crash-grace-negative": ("name: crash-grace-negative\nconsole: {crash_grace_s: -1}\n",
                             "key 'console.crash_grace_s'"),
    "crash-grace-nan": ("name: crash-grace-nan\nconsole: {crash_grace_s: .NaN}\n", "key 'console.crash_grace_s'"),
    "baudrate-zero": ("name: baudrate-zero\nconsole: {baudrate: 0}\n", "key 'console.baudrate'"),
    "power-timeout-zero": ("name: power-timeout-zero\npower: {model: manual, timeout_s: 0}\n", "key 'power.timeout_s'"),
    "power-off-time-negative": ("name: power-off-time-negative\npower: {model: manual, off_time_s: -1}\n",
                                "key 'power.off_time_s'"),
    "power-port-zero": ("name: power-port-zero\npower: {model: uhubctl, hub: 1-1, ssh: {host: lab}, port: 0}\n",
                        "key 'power.port'"),
    "power-http-no-on-url": ("name: power-http-no-on-url\npower: {model: http, off_url: 'http://pdu.lab/off'}\n",
                             "key 'power.on_url': required key is missing"),
    "console-scheme-unknown": ("name: console-scheme-unknown\nconsole: {url: 'foo://bar'}\n",
                               "key 'console.url': pyserial knows no console scheme 'foo'"),
    "console-no-port": ("name: console-no-port\nconsole: {url: 'rfc2217://127.0.0.1'}\n",
                        "key 'console.url': a rfc2217:// console needs a host and a port"),
    "console-socket-no-port": ("name: console-socket-no-port\nconsole: {url: 'socket://127.0.0.1'}\n",
                               "key 'console.url': a socket:// console needs a host and a port"),
    "console-relative-path": ("name: console-relative-path\nconsole: {url: ttyUSB0}\n",
                              "key 'console.url': a device path such as /dev/ttyUSB0"),
    "power-url-bad-port": ("name: power-url-bad-port\npower: {model: tasmota, url: 'http://127.0.0.1:99999'}\n",
                           "key 'power.url': not a URL (Port out of range 0-65535)"),
    "power-url-port-text": ("name: power-url-port-text\npower: {model: tasmota, url: 'http://127.0.0.1:abc'}\n",
                            "key 'power.url': not a URL"),
    "power-url-bad-ipv6": ("name: power-url-bad-ipv6\npower: {model: tasmota, url: 'http://[::1'}\n",
                           "key 'power.url': not a URL (Invalid IPv6 URL)"),
    "power-timeout-huge": ("name: power-timeout-huge\npower: {model: manual, timeout_s: 1.0e+300}\n",
                           "key 'power.timeout_s': expected seconds > 0 and <= 10000000.0"),
    "power-url-no-scheme": ("name: power-url-no-scheme\npower: {model: shelly_gen2, url: shelly.lab}\n",
                            "key 'power.url': expected an http:// or https:// URL"),
    "power-key-of-other-model": ("name: power-key-of-other-model\npower: {model: tasmota, url: 'http://p', "
                                 "hub: 1-1}\n", "key 'power.hub': unknown key for model tasmota"),
    "meter-timeout-inf": ("name: meter-timeout-inf\npower_meter: {timeout_s: .inf}\n",
                          "key 'power_meter.timeout_s'"),
    "meter-idle-negative": ("name: meter-idle-negative\npower_meter: {idle_w: -2}\n", "key 'power_meter.idle_w'"),
    "cmdline-too-long": (f"name: cmdline-too-long\nboot: {{cmdline: {'a' * 3000}}}\n", "key 'boot.cmdline'"),
    # regexes
    "ignore-reports-bad-regex": ("name: ignore-reports-bad-regex\nconsole: {ignore_reports: ['([unclosed']}\n",
                                 "key 'console.ignore_reports[0]': not a valid regular expression"),
    "ignore-reports-string": ("name: ignore-reports-string\nconsole: {ignore_reports: WARNING}\n",
                              "key 'console.ignore_reports': expected a list"),
    "ignore-reports-number": ("name: ignore-reports-number\nconsole: {ignore_reports: [5]}\n",
                              "key 'console.ignore_reports[0]'"),
    "status-on-bad-regex": ("name: status-on-bad-regex\npower: {model: http, on_url: 'http://a/on', "
                            "off_url: 'http://a/off', status_on: '*on'}\n",
                            "key 'power.status_on': not a valid regular expression"),
    # choices and combinations
    "storage-no-scratch": ("name: storage-no-scratch\nstorage: {log: {label: sis-log}}\n",
                           "key 'storage.scratch': name the device a campaign may destroy"),
    "storage-label-and-serial": ("name: storage-label-and-serial\nstorage: {scratch: {label: a, serial: b}}\n",
                                 "key 'storage.scratch': give either label"),
    "storage-size-negative": ("name: storage-size-negative\nstorage: {scratch: {label: a, size_mib: -4}}\n",
                              "key 'storage.scratch.size_mib'"),
    "storage-partition-text": ("name: storage-partition-text\nstorage: {scratch: {serial: a, partition: two}}\n",
                               "key 'storage.scratch.partition'"),
    "storage-device-path": ("name: storage-device-path\nstorage: {scratch: /dev/mmcblk0p3}\n", "key 'storage.scratch'"),
    "data-link-no-prefix": ("name: data-link-no-prefix\ndata_link: {address: 10.0.2.15}\n",
                            "key 'data_link.address': '10.0.2.15' is not ADDRESS/PREFIX"),
    "data-link-off-qemu-net": ("name: data-link-off-qemu-net\ndata_link: {address: 192.168.1.9/24}\n",
                               "key 'data_link.address': a QEMU board's data link is on QEMU's user network"),
    "data-link-port-zero": ("name: data-link-port-zero\ndata_link: {port: 0}\n", "key 'data_link.port'"),
    "data-link-unknown-key": ("name: data-link-unknown-key\ndata_link: {adress: 10.0.2.15/24}\n",
                              "key 'data_link.adress'"),
    "power-model-unknown": ("name: power-model-unknown\npower: {model: magic}\n", "key 'power.model'"),
    "meter-model-unknown": ("name: meter-model-unknown\npower_meter: {model: volts}\n", "key 'power_meter.model'"),
    "boot-method-unknown": ("name: boot-method-unknown\nboot: {method: pxe}\n", "key 'boot.method'"),
    "modules-string": ("name: modules-string\nboot: {modules: virtio_blk}\n", "key 'boot.modules'"),
    "console-url-on-qemu": ("name: console-url-on-qemu\nconsole: {url: 'socket://127.0.0.1:4000'}\n",
                            "key 'console.url': a QEMU board's console"),
    "uboot-transfer-unknown": ("name: uboot-transfer-unknown\n" + UBOOT % "transfer: kermit",
                               "key 'boot.uboot.transfer'"),
    "uboot-autoboot-zero": ("name: uboot-autoboot-zero\n" + UBOOT % "autoboot_timeout_s: 0",
                            "key 'boot.uboot.autoboot_timeout_s'"),
    "uboot-transfer-timeout-text": ("name: uboot-transfer-timeout-text\n" + UBOOT % "transfer_timeout_s: 900s",
                                    "key 'boot.uboot.transfer_timeout_s'"),
    "uboot-without-firmware": ("name: uboot-without-firmware\nboot: {method: uboot}\nqemu: {}\n",
                               "key 'qemu.firmware'"),
    "real-board-no-console": ("name: real-board-no-console\nboot: {method: uboot}\npower: {model: manual}\n",
                              "key 'console.url'"),
    "real-board-qmp-power": ("name: real-board-qmp-power\nboot: {method: uboot}\nconsole: {url: /dev/ttyUSB9}\n",
                             "key 'power.model'"),
    "uefi-real-board": ("name: uefi-real-board\nboot: {method: uefi}\n" + REAL, "key 'qemu': uefi boots QEMU boards through edk2"),
    "uefi-with-firmware": ("name: uefi-with-firmware\nboot: {method: uefi}\nqemu: {firmware: u-boot.bin}\n",
                           "key 'qemu.firmware': uefi brings its own firmware"),
    "uefi-code-missing": ("name: uefi-code-missing\nboot: {method: uefi, uefi: {code: /nonexistent/CODE.fd}}\n",
                          "key 'boot.uefi.code': no file /nonexistent/CODE.fd"),
    "uefi-acpi-word": ("name: uefi-acpi-word\nboot: {method: uefi, uefi: {acpi: maybe}}\n",
                       "key 'boot.uefi.acpi': expected true or false"),
    "pi-without-pi": ("name: pi-without-pi\nboot: {method: pi-tryboot}\n" + REAL, "key 'boot.pi'"),
    "pi-qmp-power": ("name: pi-qmp-power\n" + PI % ("", "") + "console: {url: /dev/ttyUSB9}\n",
                     "key 'power.model': a real board needs a power switch model, not qmp"),
    "pi-with-qemu": ("name: pi-with-qemu\n" + PI % ("", "") + "qemu: {firmware: u.bin}\n", "key 'qemu'"),
    "pi-model-unknown": ("name: pi-model-unknown\n" + PI % ("", "    model: pi9\n") + REAL, "key 'boot.pi.model'"),
    "pi-ssh-no-host": ("name: pi-ssh-no-host\nboot:\n  method: pi-tryboot\n  pi: {ssh: {user: pi}}\n" + REAL,
                       "key 'boot.pi.ssh.host': required key is missing"),
    "pi-ssh-port-huge": ("name: pi-ssh-port-huge\n" + PI % (", port: 70000", "") + REAL, "key 'boot.pi.ssh.port'"),
    "pi-ssh-timeout-negative": ("name: pi-ssh-timeout-negative\n" + PI % (", connect_timeout_s: -1", "") + REAL,
                                "key 'boot.pi.ssh.connect_timeout_s'"),
    "pi-back-timeout-nan": ("name: pi-back-timeout-nan\n" + PI % ("", "    back_timeout_s: .nan\n") + REAL,
                            "key 'boot.pi.back_timeout_s'"),
    "pi-config-line-newline": ("name: pi-config-line-newline\n" + PI % ("", "    config_lines: [\"a\\nb\"]\n") + REAL,
                               "key 'boot.pi.config_lines'"),
    "source-key": ("name: source-key\nsource: /etc/passwd\n", "key 'source': unknown key"),
    "uboot-bootefi-gzip": ("name: uboot-bootefi-gzip\nboot: {method: uboot, uboot: {boot_command: bootefi, "
                           "kernel_gzip: true}}\n" + REAL, "key 'boot.uboot.kernel_gzip': bootefi starts the Image"),
    "installed-qemu": ("name: installed-qemu\nboot: {method: installed}\nqemu: {machine: virt}\n"
                       "target: {kind: ssh, image: standin}\n", "key 'qemu': a QEMU board boots the kernel"),
    "installed-agent-target": ("name: installed-agent-target\nboot: {method: installed}\n" + REAL,
                               "key 'target.kind': an installed OS has no sisctl initramfs"),
    "target-kind-unknown": ("name: target-kind-unknown\ntarget: {kind: telnet}\n", "key 'target.kind'"),
    "target-shell-no-image": ("name: target-shell-no-image\ntarget: {kind: shell}\n", "key 'target.image'"),
    "target-password-in-yaml": ("name: target-password-in-yaml\ntarget: {kind: shell, image: standin, "
                                "password: hunter2}\n", "key 'target.password'"),
    "target-secret-both": ("name: target-secret-both\ntarget: {kind: shell, image: standin, "
                           "password: {env: A, file: /b}}\n", "key 'target.password': name the secret one way"),
    "target-ssh-port-zero": ("name: target-ssh-port-zero\ntarget: {kind: ssh, image: standin, port: 0}\n",
                             "key 'target.port'"),
    "target-prompt-empty": ("name: target-prompt-empty\ntarget: {kind: prompt, prompt: ''}\n",
                            "key 'target.prompt'"),
    "target-crash-no-verify": ("name: target-crash-no-verify\ntarget: {kind: prompt, prompt: 'sis> ', "
                               "image: seed-standin, crash: {workload: 'fsctl stress {scenario}'}}\n",
                               "key 'target.crash.verify': required key is missing"),
    "target-crash-bad-regex": ("name: target-crash-bad-regex\ntarget: {kind: prompt, prompt: 'sis> ', "
                               "image: seed-standin, crash: {workload: w, verify: v, promise_regex: '('}}\n",
                               "key 'target.crash.promise_regex'"),
    "target-smoke-not-list": ("name: target-smoke-not-list\ntarget: {kind: prompt, prompt: 'sis> ', "
                              "smoke: memctl}\n", "key 'target.smoke'"),
}

RECIPES: dict[str, tuple[str | bytes, str]] = {
    "invalid-utf8": (b"name: invalid-utf8\nkind: debian\ndescription: \xff\n", "not valid UTF-8"),
    "nul-byte": (b"name: nul-byte\nkind: debian\x00\n", "not valid YAML"),
    "not-yaml": ("name: not-yaml\nkind: [debian\n", "not valid YAML at line"),
    "top-level-list": ("- kind: debian\n", "expected a mapping of keys at the top level"),
    "duplicate-kind": ("name: duplicate-kind\nkind: debian\nkind: kbuild\n", "duplicate key 'kind'"),
    "non-string-key": ("name: non-string-key\nkind: debian\n3: x\n", "a key must be a string"),
    "missing-kind": ("name: missing-kind\n", "key 'kind': required key is missing"),
    "missing-name": ("kind: debian\n", "key 'name': required key is missing"),
    "kind-unknown": ("name: kind-unknown\nkind: rpm\n", "key 'kind'"),
    "name-dotdot-path": ("name: ../../x\nkind: debian\n", "key 'name'"),
    "name-slash": ("name: a/b\nkind: debian\n", "key 'name'"),
    "name-dotdot": ("name: '..'\nkind: debian\n", "key 'name'"),
    "name-empty": ("name: ''\nkind: debian\n", "key 'name'"),
    "name-absolute": ("name: /tmp/x\nkind: debian\n", "key 'name'"),
    "name-number": ("name: 7\nkind: debian\n", "key 'name': expected a string"),
    "kbuild-cross-compiler-missing": ("name: kbuild-cross-compiler-missing\nkind: kbuild\n"
                                      "kbuild: {cross_compile: nosuch-linux-gnu-}\n",
                                      "key 'kbuild.cross_compile': no nosuch-linux-gnu-gcc on this machine"),
    "jobs-negative": ("name: jobs-negative\nkind: kbuild\nkbuild: {jobs: -1}\n", "key 'kbuild.jobs'"),
    "kbuild-timeout-zero": ("name: kbuild-timeout-zero\nkind: kbuild\nkbuild: {timeout_s: 0}\n",
                            "key 'kbuild.timeout_s'"),
    "kbuild-timeout-inf": ("name: kbuild-timeout-inf\nkind: kbuild\nkbuild: {timeout_s: .inf}\n",
                           "key 'kbuild.timeout_s'"),
    "fragments-string": ("name: fragments-string\nkind: kbuild\nkbuild: {fragments: a.config}\n",
                         "key 'kbuild.fragments': expected a list"),
    "kbuild-unknown-key": ("name: kbuild-unknown-key\nkind: kbuild\nkbuild: {arch: x86}\n",
                           "key 'kbuild.arch': unknown key"),
    "command-without-section": ("name: command-without-section\nkind: command\n", "key 'command'"),
    "command-missing-argv": ("name: command-missing-argv\nkind: command\ncommand: {workdir: ., image: Image}\n",
                             "key 'command.argv': required key is missing"),
    "command-timeout-negative": ("name: command-timeout-negative\nkind: command\ncommand: {workdir: ., "
                                 "argv: [make], image: Image, timeout_s: -5}\n", "key 'command.timeout_s'"),
    "command-env-number": ("name: command-env-number\nkind: command\ncommand: {workdir: ., argv: [make], "
                           "image: Image, env: {JOBS: 5}}\n", "key 'command.env.JOBS'"),
    "command-env-key-number": ("name: command-env-key-number\nkind: command\ncommand: {workdir: ., argv: [make], "
                               "image: Image, env: {1: x}}\n", "key 'command.env.1'"),
    "command-argv-empty": ("name: command-argv-empty\nkind: command\ncommand: {workdir: ., argv: [], image: Image}\n",
                           "key 'command.argv': expected the build command as a non-empty list"),
    "command-argv-blank": ("name: command-argv-blank\nkind: command\ncommand: {workdir: ., argv: ['', x], "
                           "image: Image}\n", "key 'command.argv'"),
    "command-inputs-absolute": ("name: command-inputs-absolute\nkind: command\ncommand: {workdir: ., argv: [make], "
                                "image: Image, inputs: ['/etc/*']}\n", "key 'command.inputs[0]'"),
    "command-inputs-up": ("name: command-inputs-up\nkind: command\ncommand: {workdir: ., argv: [make], "
                          "image: Image, inputs: ['src/*.c', '../*']}\n", "key 'command.inputs[1]'"),
    "command-inputs-empty": ("name: command-inputs-empty\nkind: command\ncommand: {workdir: ., argv: [make], "
                             "image: Image, inputs: ['']}\n", "key 'command.inputs[0]'"),
    "kbuild-fragment-missing": ("name: kbuild-fragment-missing\nkind: kbuild\nkbuild: {fragments: "
                                "[firmware/configs/no-such.config]}\n", "key 'kbuild.fragments[0]': "
                                "'firmware/configs/no-such.config': no such file"),
    "kbuild-patch-outside": ("name: kbuild-patch-outside\nkind: kbuild\nkbuild: {patches: [../../etc/passwd]}\n",
                             "key 'kbuild.patches[0]'"),
    "debian-with-kbuild": ("name: debian-with-kbuild\nkind: debian\nkbuild: {}\n", "key 'kbuild'"),
    "debian-package-list": ("name: debian-package-list\nkind: debian\ndebian: {package: [a, b]}\n",
                            "key 'debian.package'"),
}


# test plans, through `invoke nightly --plan FILE --dry-run`
PLAN = "name: {stem}\nboards: [qemu-virt-0]\n"
PLANS: dict[str, tuple[str | bytes, str]] = {
    "no-steps": (PLAN + "steps: []\n", "key 'steps': a plan needs at least one step"),
    "unknown-kind": (PLAN + "steps:\n  - kind: smokey\n", "key 'steps[0].kind'"),
    "unknown-board": ("name: unknown-board\nboards: [no-such-board]\nsteps:\n  - kind: smoke\n", "key 'boards[0]'"),
    "no-board": ("name: no-board\nboards: []\nsteps:\n  - kind: smoke\n", "key 'steps[0].boards'"),
    "unknown-variant": (PLAN + "steps:\n  - {kind: ext4-crash, variants: [no-such-recipe]}\n",
                        "key 'steps[0].variants[0]'"),
    "bad-duration": (PLAN + "steps:\n  - {kind: fuzz, options: {duration: forever}}\n", "key 'steps[0].options'"),
    "unknown-option": (PLAN + "steps:\n  - {kind: fuzz, options: {colour: red}}\n", "--colour is not an option"),
    "negative-runs": (PLAN + "steps:\n  - {kind: ext4-crash, options: {runs: -1}}\n", "--runs -1"),
    "unknown-scenario": (PLAN + "steps:\n  - {kind: ext4-crash, options: {scenario: nope}}\n", "unknown scenario"),
    "bench-without-candidate": (PLAN + "steps:\n  - {kind: bench, options: {baseline: linux-kbuild}}\n",
                                "--candidate VARIANT is required"),
    "kselftest-path": (PLAN + "steps:\n  - {kind: ktap, options: {kselftest: ../etc}}\n",
                       "not a kselftest collection name"),
    "step-name-path": (PLAN + "steps:\n  - {kind: smoke, name: ../x}\n", "key 'steps[0].name'"),
    "unknown-key": (PLAN + "timeout: 5\nsteps:\n  - kind: smoke\n", "key 'timeout': unknown key"),
    "step-name-collides": (PLAN + "steps:\n  - {kind: smoke, name: smoke-2}\n  - kind: smoke\n  - kind: smoke\n",
                           "is there twice"),
    "tag-without-coordinator": ("name: tag-without-coordinator\nboards: ['tag:type=rpi4']\nsteps:\n  - kind: smoke\n",
                                "needs a coordinator"),
}

# benchmark suites, through `invoke campaign --kind bench ... --suite FILE`
SUITES: dict[str, tuple[str | bytes, str]] = {
    "no-workloads": ("workloads: []\n", "key 'workloads': a suite needs at least one workload"),
    "unknown-family": ("families: [space]\nworkloads:\n  - {name: a, agent: [null_syscall, 5]}\n", "key 'families'"),
    "unknown-workload": ("workloads:\n  - {name: a, agent: [no_such_workload, 5]}\n", "key 'workloads[0].agent'"),
    "negative-count": ("workloads:\n  - {name: a, agent: [null_syscall, -5]}\n", "key 'workloads[0].agent[1]'"),
    "no-count": ("workloads:\n  - {name: a, agent: [null_syscall]}\n", "key 'workloads[0].agent[1]'"),
    "no-dir": ("families: [time]\nworkloads:\n  - {name: a, agent: [fsync_4k, 5]}\n", "key 'workloads[0].agent'"),
    "disk-in-work": ("families: [work]\nworkloads:\n  - {name: a, agent: [fsync_4k, 5, '{dir}']}\n",
                     "only the time family measures"),
    "twice": ("workloads:\n  - {name: a, agent: [null_syscall, 5]}\n  - {name: a, agent: [null_syscall, 5]}\n",
              "key 'workloads[1].name'"),
    "zero-reps": ("reps: 0\nworkloads:\n  - {name: a, agent: [null_syscall, 5]}\n", "key 'reps'"),
    "blocks-reversed": ("min_blocks: 5\nmax_blocks: 2\nworkloads:\n  - {name: a, agent: [null_syscall, 5]}\n",
                        "key 'max_blocks'"),
    "negative-effect": ("min_effect: {work: -1}\nworkloads:\n  - {name: a, agent: [null_syscall, 5]}\n",
                        "key 'min_effect.work'"),
    "name-path": ("workloads:\n  - {name: ../a, agent: [null_syscall, 5]}\n", "key 'workloads[0].name'"),
    "agent-and-command": ("workloads:\n  - {name: a, agent: [null_syscall, 5], command: 'true'}\n",
                          "give exactly one of"),
}

# lab files, through `SISCTL_LAB=FILE invoke fleet.list`
LABS: dict[str, tuple[str | bytes, str]] = {
    "unknown-key": ("colour: red\n", "key 'colour': unknown key"),
    "tsdb-not-mapping": ("tsdb: 5\n", "key 'tsdb': expected a mapping"),
    "tsdb-url-scheme": ("tsdb: {url: 'ftp://db.lab'}\n", "key 'tsdb.url'"),
    "embedded-listen-no-port": ("embedded: {listen: 127.0.0.1}\n", "key 'embedded.listen'"),
    "coordinator-port": ("coordinator: {address: '127.0.0.1:99999'}\n", "key 'coordinator.address'"),
    "coordinator-no-port": ("coordinator: {address: coordinator.lab}\n", "key 'coordinator.address'"),
    "coordinator-listen": ("coordinator: {listen: 'nowhere'}\n", "key 'coordinator.listen'"),
    "poll-negative": ("coordinator: {poll_s: -1}\n", "key 'coordinator.poll_s'"),
    "lease-zero": ("coordinator: {lease_s: 0}\n", "key 'coordinator.lease_s'"),
    "wait-huge": ("coordinator: {wait_s: 1.0e+300}\n", "key 'coordinator.wait_s'"),
    "health-jobs-zero": ("coordinator: {health_every_jobs: 0}\n", "key 'coordinator.health_every_jobs'"),
    "grafana-url": ("grafana: {url: 'grafana.lab:3000'}\n", "key 'grafana.url'"),
    "webhook-file": ("notify: {webhook: {url: 'file:///etc/passwd'}}\n", "key 'notify.webhook.url'"),
    "smtp-port": ("notify: {email: {to: [a@b], smtp: '127.0.0.1:0'}}\n", "key 'notify.email.smtp'"),
    "host-without-checkout": ("hosts: {lab2: {address: lab2.example}}\n", "key 'hosts.lab2.checkout'"),
    "token-env-name": ("tsdb: {token_env: 'A B'}\n", "key 'tsdb.token_env'"),
}

# campaign folders, through `invoke campaign --resume FOLDER`: their files, and what the line says
CRASH = {"board": "qemu-virt-0", "scenarios": ["write_during_allocation"], "mode": "powerloss", "runs": 1,
         "seed": 1, "reorder_per_epoch": 2, "keep_all": False}


def campaign(config: dict | list | None = None, kind: Any = "ext4-crash", **files: bytes | str) -> dict:
    data = {"kind": kind, "config": CRASH if config is None else config, "boards": ["qemu-virt-0"]}
    return {"campaign.json": json.dumps(data), **files}


CAMPAIGNS: dict[str, tuple[dict, str]] = {
    "empty-description": ({"campaign.json": ""}, "campaign.json: not a campaign description"),
    "description-list": ({"campaign.json": "[]"}, "campaign.json: not a campaign description"),
    "deep-description": ({"campaign.json": "[" * 20_000 + "]" * 20_000}, "campaign.json: not a campaign description"),
    "unknown-kind": (campaign(kind="nope"), "unknown campaign kind"),
    "kind-list": (campaign(kind=[]), "campaign.json: not a campaign description"),
    "config-list": (campaign([]), "key 'config': expected a mapping"),
    "unknown-mode": (campaign({**CRASH, "mode": "nope"}), "key 'config.mode'"),
    "negative-runs": (campaign({**CRASH, "runs": -1}), "key 'config.runs'"),
    "seed-text": (campaign({**CRASH, "seed": "x"}), "key 'config.seed'"),
    "unknown-scenario": (campaign({**CRASH, "scenarios": ["nope"]}), "key 'config.scenarios'"),
    "no-board": (campaign({k: v for k, v in CRASH.items() if k != "board"}), "key 'config.board'"),
    "fuzz-target": (campaign({"board": "qemu-virt-0", "target": "nope"}, "fuzz"), "key 'config.target'"),
    "fuzz-slots": (campaign({"board": "qemu-virt-0", "slots": "many"}, "fuzz"), "key 'config.slots'"),
    "bench-variant": (campaign({"board": "qemu-virt-0", "baseline": "linux-kbuild+", "candidate": "x"}, "bench"),
                      "key 'config.baseline'"),
    "ktap-kselftest-path": (campaign({"board": "qemu-virt-0", "kselftest": ["../x"]}, "ktap"),
                            "key 'config.kselftest'"),
    "boards-not-list": ({"campaign.json": json.dumps({"kind": "ext4-crash", "config": CRASH, "boards": "x"})},
                        "'boards' must be a list"),
    "records-utf8": (campaign(**{"records.jsonl": b'{"type": "run"}\n\xff\xfe\n'}), "records.jsonl: line 2"),
    "records-list": (campaign(**{"records.jsonl": '{"type": "run"}\n[1, 2]\n'}), "records.jsonl: line 2"),
    "records-not-json": (campaign(**{"records.jsonl": '{"type": "run"}\nnope\n'}), "records.jsonl: line 2"),
}


def write(folder: Path, cases: dict[str, tuple[str | bytes, str]]) -> None:
    folder.mkdir(exist_ok=True)
    for old in folder.glob("*.yaml"):
        old.unlink()
    for stem, (body, expect) in cases.items():
        data = body if isinstance(body, bytes) else body.replace("{stem}", stem).encode()
        (folder / f"{stem}.yaml").write_bytes(f"# expect: {expect}\n".encode() + data)


def write_folders(folder: Path, cases: dict[str, tuple[dict, str]]) -> None:
    """One folder a case, its files and an `expect` file saying what the error line contains."""
    shutil.rmtree(folder, ignore_errors=True)
    for stem, (files, expect) in cases.items():
        (folder / stem).mkdir(parents=True)
        (folder / stem / "expect").write_text(expect + "\n")
        for name, body in files.items():
            (folder / stem / name).write_bytes(body if isinstance(body, bytes) else body.encode())


if __name__ == "__main__":
    write(HERE / "boards", BOARDS)
    write(HERE / "recipes", RECIPES)
    write(HERE / "plans", PLANS)
    write(HERE / "suites", SUITES)
    write(HERE / "labs", LABS)
    write_folders(HERE / "campaigns", CAMPAIGNS)
    print(f"{len(BOARDS)} boards, {len(RECIPES)} recipes, {len(PLANS)} plans, {len(SUITES)} suites, "
          f"{len(LABS)} lab files, {len(CAMPAIGNS)} campaign folders")
