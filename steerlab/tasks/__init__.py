"""Evaluation tasks, one file each (`base.Task` is the interface); `registry.TASKS` and `registry.build` assemble them."""
