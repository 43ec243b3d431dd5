"""The sandboxed worker: the child processes that train and probe a generated model.

Generated code never imports this package (the gates forbid it); it imports paper_autotrain.runtime."""
