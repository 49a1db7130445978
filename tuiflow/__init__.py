"""tuiflow: run a pipeline of shell commands as a DAG, live in your terminal."""

__version__ = "0.1.0"
