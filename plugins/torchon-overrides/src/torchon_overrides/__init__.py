"""torchon-overrides: change a config from the command line without editing it (``torchon run exp.yaml
optimizer.lr=0.003 +model.dropout=0.1 ~scheduler``), and complete a config's keys in the shell."""

__version__ = "0.1.0"
