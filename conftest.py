pytest_plugins = ["testkit.fixtures"]
