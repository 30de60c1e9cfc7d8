"""Text written for steerlab: suffix list and builtin dilemmas."""
