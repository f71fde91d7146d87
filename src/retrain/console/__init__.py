"""Terminal output shared by the command groups: tables, the live task table, run summaries.

A presentation package, not a command group: `retrain.cli` modules use it so that no CLI module imports
another. On a terminal it draws with Rich; otherwise it prints plain lines (one per change, never repeated).
"""
