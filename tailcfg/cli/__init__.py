"""The command line: parsing, rendering, exit codes. Only this package imports typer or rich."""
