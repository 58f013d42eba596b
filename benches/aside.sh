# Moves each existing path into a trash dir instead of deleting it (sourced by run.sh's
# hyperfine --prepare). Usage: source aside.sh TRASH PATH...
_trash=$1; shift
for _p in "$@"; do
  if [ -e "$_p" ]; then mv "$_p" "$_trash/$(date +%s%N)-$RANDOM"; fi
done
