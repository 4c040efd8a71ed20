"""Federated training in Flower (Message API): the client app, the server's round loop,
the capturing strategy, DP array fixes, and the simulation that runs them."""
