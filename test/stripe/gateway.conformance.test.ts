// StripeCheckoutGateway passes the shared gateway conformance suite over the local fake Stripe server.
import { describeGatewayConformance } from '../conformance/gateway-conformance.js';
import { stripeGatewayHarness } from './stripe-gateway-driver.js';

describeGatewayConformance('StripeCheckoutGateway (local fake Stripe)', stripeGatewayHarness());
