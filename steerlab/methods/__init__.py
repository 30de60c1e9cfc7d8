"""Steering methods, one file each: `registry.METHODS` (name -> (config, class)), `store` (save / load), and the
bases `base.Method`, `vector.VectorMethod`, `trained.TrainedMethod`, `peft_base.PeftMethod`."""
