"""mms-bridge: an email-to-MMS bridge.

The package is layered as `shared/DESIGN.md` draws it: `errors` and `model` at the bottom, the pure `codec`
above them, then `convert`, `adapters`, `pipeline`, `worker`, `config`, `app` and `cli`.
"""

__version__ = "0.1.0"
