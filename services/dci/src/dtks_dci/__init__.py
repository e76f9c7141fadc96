"""DTKS DCI adapter: the register to partner agencies through the DCI Social Registry API standard."""
