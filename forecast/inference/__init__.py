"""The PyMC layer: from a runs table and a law to a posterior.

:mod:`~forecast.inference.model` builds the PyMC model (a pure function of data, law and
priors; :mod:`~forecast.inference.geometry` is how the sampler sees it and
:mod:`~forecast.inference.priors` what the priors are), :mod:`~forecast.inference.sampling`
draws it with the engine of :mod:`~forecast.inference.engine`,
:mod:`~forecast.inference.fitting` turns the draws into a :class:`Fit`, and
:mod:`~forecast.inference.extrapolation` measures the law's error beyond the data. Importing
this package imports none of them.
"""
