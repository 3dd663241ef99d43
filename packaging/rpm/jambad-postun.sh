# jambad %postun ($1: 0 on removal, 1 on upgrade). Removal keeps the sessions in /var/lib/jambad
# and an edited config (as jambad.conf.rpmsave); RPM has no purge, so deleting them is the
# administrator's call. An upgrade restarts a running server (it drains first).
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || :
  if [ "$1" -ge 1 ]; then
    systemctl try-restart jambad.service >/dev/null 2>&1 || :
  fi
fi
exit 0
