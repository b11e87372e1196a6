// Placeholder until this adapter lands; exports nothing yet.
export {};
