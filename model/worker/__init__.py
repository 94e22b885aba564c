"""The inference worker: one engine that owns the checkpoints and batches requests
(`engine`), served in-process (the default) or over HTTP (`http`, `python -m model
serve`), configured from the environment (`settings`). Requests and replies are the
contract's (model/contract.py), the same in both modes."""
