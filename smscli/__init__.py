"""smscli: send SMS to IoT SIMs and phones from a terminal or a script."""

__version__ = "0.1.0"
