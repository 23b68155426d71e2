"""The extension template under src/ holds Jinja-templated tests (``test_{{cookiecutter.module_name}}.py``): they are
the baked package's, run in tests/test_new.py after baking, never collected here."""

collect_ignore = ["src"]
