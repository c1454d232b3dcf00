"""The analysis pipeline, one module per stage, in data-flow order.

``prepare`` loads the model from its source (``cachekey_cli/sources``) inside
the profile's session (``profiles``), ``capture`` records the graphs Dynamo
hands a backend, ``split_ops`` names the splitting ops and ``split`` cuts each
graph into pieces (plain and tuple_return), ``keys`` keys every piece with
torch's own machinery, ``verify`` compiles for real to check the keys, and
``pipeline`` runs the stages in order and returns an Analysis.
"""
