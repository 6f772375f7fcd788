* Differential pair with a tail source and a capacitor between the outputs: the MAGICAL fixture's circuit.
.subckt diffpair inp inm outp outm vbn vss
M1 outm inp tail vss nch w=4u l=0.5u nf=2
M2 outp inm tail vss nch w=4u l=0.5u nf=2
M3 tail vbn vss vss nch w=8u l=1u nf=4
C1 outp outm mimcap c=200f
.ends diffpair
