"""``concur bench``: every engine side by side, against the ideal, with figures.

scenarios (data) → runner (a subprocess per trial) → results (versioned JSON) →
plots and report (drawn from the JSON alone).
"""
