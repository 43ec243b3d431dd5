"""The sandbox wing: running generated code in a child process under limits, and the gates it must pass."""
