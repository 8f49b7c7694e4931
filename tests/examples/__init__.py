"""The framework recipes of examples/frameworks/, each run with its framework's own test client."""
