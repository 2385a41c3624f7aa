"""sisctl: build, boot and test ARM64 kernels on QEMU and real boards."""
__version__ = "0.1.0"
