"""loggerd's own device drivers, registered in the loggerd.drivers entry-point group."""
