"""Concept analyses (SPEC §7) behind `analysis=<name>`: they reuse the run's model, pairs, layers and logger.

An analysis replaces the steering evaluation of a run: `python launch.py analysis=alignment` loads the model,
builds the training pairs as usual, runs the analysis and writes its tables and plots into the run folder
(and to W&B). Registry: name -> (config dataclass, function(analysis cfg, ctx, folder, logger, run cfg) -> summary dict, check).
"""
