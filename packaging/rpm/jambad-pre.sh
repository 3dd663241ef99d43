# jambad %pre: the system user, before the files (owned by it) are laid out.
getent group jambad >/dev/null || groupadd -r jambad
getent passwd jambad >/dev/null ||
  useradd -r -g jambad -d /var/lib/jambad -s /sbin/nologin -c "Jamba inference server" jambad
exit 0
