"""Samples of a QEMU guest's kernel taken from outside, through QEMU's gdbstub: the guest is
stopped at a fixed rate, each vCPU's PC read and its frame-pointer chain walked (arm64 frame
records: [x29] = caller's x29, [x29 + 8] = return address), then it runs on. Works for any kernel,
one without perf events or without an agent included; the stops cost the guest time (measured in
benchmarks/profile.py)."""
from __future__ import annotations

import socket
import struct
import threading
import time

KERNEL_SPACE = 0xffff000000000000
DEPTH = 32
PC, FP = 32, 29                    # gdb's aarch64 register numbers


class GdbError(Exception):
    pass


def gdb_args(port: int) -> list[str]:
    """QEMU's options for a gdbstub on a loopback port (the guest keeps running)."""
    return ["-gdb", f"tcp:127.0.0.1:{port}"]


class GdbStub:
    """The remote protocol, the few packets sampling needs, acknowledgements off."""

    def __init__(self, port: int, timeout_s: float = 5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
        self.buffer = b""
        self.stopped = True                 # a new connection stops the guest
        self.request("QStartNoAckMode", acked=True)
        self.threads = self._threads()

    def _send(self, payload: str) -> None:
        self.sock.sendall(b"$%s#%02x" % (payload.encode(), sum(payload.encode()) & 0xff))

    def _packet(self) -> str:
        while True:
            start = self.buffer.find(b"$")
            end = self.buffer.find(b"#", start)
            if start >= 0 and end >= 0 and len(self.buffer) >= end + 3:
                payload, self.buffer = self.buffer[start + 1:end], self.buffer[end + 3:]
                return payload.decode(errors="replace")
            data = self.sock.recv(65536)
            if not data:
                raise GdbError("QEMU closed the gdbstub connection")
            self.buffer += data

    def request(self, payload: str, acked: bool = False) -> str:
        self._send(payload)
        if acked:   # the last packet before no-ack mode is acknowledged
            while b"+" not in self.buffer:
                self.buffer += self.sock.recv(65536)
            self.buffer = self.buffer[self.buffer.index(b"+") + 1:]
        return self._packet()

    def _threads(self) -> list[str]:
        found, reply = [], self.request("qfThreadInfo")
        while reply.startswith("m"):
            found += reply[1:].split(",")
            reply = self.request("qsThreadInfo")
        return found or ["1"]

    def stop(self) -> None:
        self.sock.sendall(b"\x03")
        self._packet()                      # the stop reply
        self.stopped = True

    def resume(self) -> None:
        self._send("c")                     # no reply until the next stop
        self.stopped = False

    def registers(self) -> tuple[int, int, int]:
        """x29, pc and cpsr of the selected vCPU ('g': x0-x30, sp, pc as 8 bytes each, then cpsr as 4)."""
        raw = bytes.fromhex(self.request("g"))
        if len(raw) < 33 * 8 + 4:
            raise GdbError(f"short register reply ({len(raw)} bytes)")
        fp, pc = (int.from_bytes(raw[i * 8:(i + 1) * 8], "little") for i in (FP, PC))
        return fp, pc, int.from_bytes(raw[PC * 8 + 8:PC * 8 + 12], "little")

    def read(self, address: int, size: int) -> bytes | None:
        reply = self.request(f"m{address:x},{size:x}")
        return None if reply.startswith("E") or len(reply) != 2 * size else bytes.fromhex(reply)

    def select(self, thread: str) -> None:
        self.request(f"Hg{thread}")

    def close(self) -> None:
        self.sock.close()


def kernel_chain(stub: GdbStub) -> list[int | str]:
    """The stopped vCPU's stack as the agent reports one: K, the PC, return addresses; or U."""
    fp, pc, cpsr = stub.registers()
    if cpsr & 0xc == 0:                     # EL0: the CPU was running user code
        return ["U"]
    frames: list[int | str] = ["K", pc]
    while len(frames) < DEPTH and fp >= KERNEL_SPACE and fp % 8 == 0:
        record = stub.read(fp, 16)
        if record is None:
            break
        next_fp, lr = struct.unpack("<QQ", record)
        if lr >> 55 & 1:                    # a kernel address: drop pointer-authentication bits
            lr |= KERNEL_SPACE
        if lr < KERNEL_SPACE:
            break
        frames.append(lr - 4)               # the call, not the return address
        if next_fp <= fp:
            break
        fp = next_fp
    return frames


class HostSampler:
    """Samples every vCPU `hz` times a second from a thread, until stopped."""

    def __init__(self, port: int, hz: int):
        self.port, self.period = port, 1.0 / hz
        self.counts: dict[tuple, int] = {}
        self.samples = 0
        self.stopped_s = 0.0                # time the guest spent stopped for sampling
        self.error = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gdb-sampler", daemon=True)

    def __enter__(self) -> "HostSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        try:
            stub = GdbStub(self.port)
        except (OSError, GdbError) as err:
            self.error = f"gdbstub on 127.0.0.1:{self.port}: {err}"
            return
        try:
            stub.resume()
            next_at = time.monotonic()
            while not self._stop.is_set():
                next_at += self.period
                self._stop.wait(max(0.0, next_at - time.monotonic()))
                started = time.monotonic()
                stub.stop()
                for cpu, thread in enumerate(stub.threads):
                    if len(stub.threads) > 1:
                        stub.select(thread)
                    key = (cpu, tuple(kernel_chain(stub)))
                    self.counts[key] = self.counts.get(key, 0) + 1
                    self.samples += 1
                stub.resume()
                self.stopped_s += time.monotonic() - started
        except (OSError, GdbError) as err:
            self.error = f"gdbstub on 127.0.0.1:{self.port}: {err}"
        finally:
            try:
                if not stub.stopped:
                    stub.stop()
                stub.request("D")           # detach: the guest runs on
            except (OSError, GdbError):
                pass
            stub.close()

    def stacks(self) -> list[tuple[int, int, list]]:
        """(count, vCPU, frames) per distinct stack."""
        return [(count, cpu, list(frames)) for (cpu, frames), count in self.counts.items()]
