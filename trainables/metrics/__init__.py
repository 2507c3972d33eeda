"""What a trial measures beyond accuracy: weight and activation sparsity, pruning, collapse."""
