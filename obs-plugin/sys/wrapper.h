/* bindgen input for deckcast-obs-sys. Headers: libobs-dev 30.2.3 (Debian trixie). */
#include <obs/obs-module.h>
#include <obs/obs-frontend-api.h>
#include <obs/util/platform.h>
#include <obs/util/text-lookup.h>
#include <obs/util/config-file.h>
