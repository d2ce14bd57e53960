"""One run or a batch of runs: inputs and their memory plan, each level's images and targets (levels: where
Configs become the plain values the losses and the model take), the optimisers, progress, and `transfer`."""
