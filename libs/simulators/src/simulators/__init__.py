"""Local servers that speak the public protocol of a third-party system we cannot reach from
here, one module each; `python -m simulators.<name>` runs one on its own."""
