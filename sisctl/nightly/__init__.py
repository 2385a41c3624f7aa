"""Nightly lab jobs: a test plan (kernels x boards x campaigns) run as one job with one verdict."""
