"""The jobs: one package per capability, each returning a :class:`~preimage.results.Result`.

``inversion`` (reconstruct, layer sweeps, the CVPR-2015 protocol), ``natural`` (activation
maximization, caricatures), ``projection`` (DeconvNet projections, top patches, dead channels),
``attacks`` (adversarial examples, robustness, transfer), ``privacy`` (embedding leakage),
``studies`` (feature-space studies with a trained inverter). They stand on the core and on
nothing above it; none imports another.
"""
