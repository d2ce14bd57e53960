"""One run or a batch of runs: inputs and their memory plan, the optimisers, progress, and `transfer`, which
turns Configs into the plain values the losses and the model take."""
