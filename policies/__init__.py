"""The CrossGuard pack directory. A package so that `policies.guardrails` has one module name for
tools and type checkers; the Pulumi CLI does not import it (it runs policies/__main__.py)."""
