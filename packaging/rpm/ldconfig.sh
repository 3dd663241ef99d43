# libjamba %post and %postun: refresh the dynamic linker's cache for libjamba.so.1.
/sbin/ldconfig
