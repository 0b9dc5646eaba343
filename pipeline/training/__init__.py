"""Training on Ray Train (fast-nst, handwriting) and the data the handwriting model learns from."""
