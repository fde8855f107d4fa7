"""Placeholder until save/load lands."""
