"""Fixture notebooks are inputs to tests, not notebooks to run under nbval. (The run-time table and the
workspace guard are in the root conftest.py, which also sees the items of solutions/.)"""

collect_ignore_glob = ["tools/fixtures/*"]
