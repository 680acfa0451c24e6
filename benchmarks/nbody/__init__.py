"""N-body benchmark: charged particles (EGNN's protocol), implicit steerable point convolutions
against analytic kernels, EGNN and a non-equivariant message-passing network."""
