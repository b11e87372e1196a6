// Demo users. THE PART A HOST REPLACES: your own users, plans and doctor–patient relations.

export const DEMO_DOCTORS = [
  { id: '65d000000000000000000d01', name: 'Dr. Ada Lovelace', timeZone: 'Europe/Berlin' },
] as const;

export const DEMO_PATIENTS = [
  { id: '65d000000000000000000a01', name: 'Paula Standard', plan: 'standard' },
  { id: '65d000000000000000000a02', name: 'Victor Vise', plan: 'vise' },
  { id: '65d000000000000000000a03', name: 'Nora None', plan: 'none' },
  { id: '65d000000000000000000a04', name: 'Tom Trial', plan: 'freeTrial' },
] as const;

export const DEMO_ADMIN = { id: 'admin' } as const;

/** Victor already sees Dr. Lovelace, so his VISE plan books free. */
export const DEMO_RELATIONS = [{ doctorId: DEMO_DOCTORS[0].id, patientId: DEMO_PATIENTS[1].id }];
