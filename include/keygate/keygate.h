// keygate/keygate.h: includes the whole public API of the keygate library.
#ifndef KEYGATE_KEYGATE_H_
#define KEYGATE_KEYGATE_H_

#include "keygate/clock.h"
#include "keygate/delegation.h"
#include "keygate/errors.h"
#include "keygate/event.h"
#include "keygate/keyring.h"
#include "keygate/options.h"
#include "keygate/page.h"
#include "keygate/principal.h"
#include "keygate/secret_string.h"
#include "keygate/service_account.h"
#include "keygate/store.h"
#include "keygate/token.h"
#include "keygate/validation.h"
#include "keygate/webhook.h"
#include "keygate/webhook_deliverer.h"
#include "keygate/webhook_delivery.h"
#include "keygate/webhook_transport.h"

#endif  // KEYGATE_KEYGATE_H_
