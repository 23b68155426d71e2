"""Provides other_mod, not the name the header asks for."""
