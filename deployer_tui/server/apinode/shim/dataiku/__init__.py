"""A minimal stand-in for the parts of DSS's `dataiku` package that endpoint code imports.

Only worker processes of the local API node have this folder on `sys.path`; the node itself and
the rest of deployer-tui never import it, so a real `dataiku` install is never shadowed.
"""
