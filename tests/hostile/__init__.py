"""Hostile inputs and faults: files meant to hurt, command-line mistakes, kills and races."""
