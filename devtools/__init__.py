"""Development tools: real server processes, headless LibreOffice and the sheet renderer.

The tests, the benchmarks and the documentation use them; they are not part of the
installed packages (pyproject.toml's package list leaves this folder out).
"""
