# jambad %preun ($1: 0 on removal, 1 on upgrade): removal stops and disables the server.
if [ "$1" -eq 0 ]; then
  systemctl --no-reload disable --now jambad.service >/dev/null 2>&1 || :
fi
exit 0
