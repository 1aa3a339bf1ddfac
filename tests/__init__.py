"""System-level suites: tests/faults (faults on real processes), tests/browser (the storefront)."""
