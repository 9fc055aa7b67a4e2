"""Training engine on Lightning: data module, task, checkpoint I/O, stage runners."""
